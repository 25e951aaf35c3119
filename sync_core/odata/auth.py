"""Sign-in for BC and Dataverse: one msal confidential client app, one token per scope.

The msal app is built lazily (its constructor performs OIDC discovery over the network) and kept
for the worker's lifetime so its in-memory token cache is reused; BC and Dataverse share it and
each ask for their own scope. ``BearerAuth`` puts the token on every request; msal answers from
its cache until the token is close to expiry.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlparse

import msal
import requests
import requests.auth
from msal.exceptions import MsalServiceError

from sync_core.credentials import ClientCertificate
from sync_core.errors import AuthError, ConfigError, TransientError

log = logging.getLogger(__name__)

_TLS_REMEDY = "check the certificate trust (REQUESTS_CA_BUNDLE) and SYNC_AUTHORITY_HOST"

MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
    }
)


class TokenProvider(Protocol):
    def token(self) -> str: ...


class _TimeoutHttpClient:
    """What msal needs of an HTTP client (get/post/close), with a timeout on every call.

    msal applies no timeout to a caller-supplied client, so a hung token endpoint would hang the
    worker without this.
    """

    def __init__(self, session: requests.Session, timeout: tuple[float, float]) -> None:
        self._session = session
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


def sign_in_remedy(certificate: ClientCertificate | None) -> str:
    """What to check when the token endpoint refuses the app, for the credential it uses."""
    if certificate is None:
        return "check SYNC_TENANT_ID, SYNC_CLIENT_ID, SYNC_CLIENT_SECRET and the app registration"
    return (
        f"check SYNC_TENANT_ID, SYNC_CLIENT_ID and that the app registration holds the certificate "
        f"with thumbprint {certificate.sha1_thumbprint} (SHA-256 {certificate.sha256_thumbprint}) under "
        f"Certificates & secrets; the app's certificate comes from {certificate.setting}"
    )


def _credential(client_secret: str, certificate: ClientCertificate | None) -> str | dict[str, str]:
    if bool(client_secret) == (certificate is not None):
        raise TypeError("give build_confidential_app a client_secret or a certificate, exactly one")
    return certificate.msal_credential() if certificate is not None else client_secret


def build_confidential_app(
    *,
    tenant_id: str,
    client_id: str,
    authority_host: str,
    http_client: requests.Session,
    client_secret: str = "",
    certificate: ClientCertificate | None = None,
    timeout: tuple[float, float] = (5.0, 30.0),
) -> msal.ConfidentialClientApplication:
    """Build the msal app (performs discovery: call it lazily, see ``LazyConfidentialApp``).

    The credential is a client secret or a validated certificate (``sync_core.credentials``).
    """
    credential = _credential(client_secret, certificate)
    host = authority_host.rstrip("/")
    authority = f"{host}/{tenant_id}"
    extra: dict[str, Any] = {}
    if (urlparse(host).hostname or "").lower() not in MICROSOFT_LOGIN_HOSTS:
        extra["instance_discovery"] = False  # a local or sovereign authority: no discovery call
    try:
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=credential,
            authority=authority,
            http_client=_TimeoutHttpClient(http_client, timeout),
            **extra,
        )
    except requests.exceptions.SSLError as exc:
        raise ConfigError(f"authority {authority}: TLS verification failed", remedy=_TLS_REMEDY) from exc
    except (requests.RequestException, MsalServiceError) as exc:
        raise TransientError(f"authority {authority} unreachable or failing: {type(exc).__name__}") from exc
    except (ValueError, KeyError) as exc:
        raise AuthError(
            f"authority {authority} is not usable: {exc}",
            remedy="check SYNC_AUTHORITY_HOST and SYNC_TENANT_ID",
        ) from exc


class LazyConfidentialApp:
    """Builds the msal app on first use, once, and hands the same object to every caller.

    Give either a ``factory`` or the keyword arguments of ``build_confidential_app``. A failed
    build is not remembered: the next call tries again.
    """

    def __init__(
        self,
        factory: Callable[[], msal.ConfidentialClientApplication] | None = None,
        **build_kwargs: Any,
    ) -> None:
        if (factory is None) == (not build_kwargs):
            raise TypeError("LazyConfidentialApp takes a factory or build arguments, not both")
        self._factory = factory or functools.partial(build_confidential_app, **build_kwargs)
        self.remedy = sign_in_remedy(build_kwargs.get("certificate"))
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def __call__(self) -> msal.ConfidentialClientApplication:
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
                app = self._app
        return app

    def __repr__(self) -> str:
        return f"{type(self).__name__}(built={self._app is not None})"


class MsalTokenProvider:
    """Access tokens for one scope (e.g. ``https://api.businesscentral.dynamics.com/.default``).

    ``app_factory`` is called on first use and its answer kept; pass one ``LazyConfidentialApp``
    to the BC and the Dataverse provider so both share one app and one token cache.
    """

    def __init__(self, app_factory: Callable[[], msal.ConfidentialClientApplication], scope: str) -> None:
        self._app: LazyConfidentialApp = (
            app_factory if isinstance(app_factory, LazyConfidentialApp) else LazyConfidentialApp(app_factory)
        )
        self.scope = scope

    def token(self) -> str:
        app = self._app()
        try:
            result = app.acquire_token_for_client([self.scope])
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"sign-in for {self.scope} failed: TLS verification failed", remedy=_TLS_REMEDY
            ) from exc
        except (requests.RequestException, MsalServiceError) as exc:  # unreachable, or a 5xx
            raise TransientError(
                f"sign-in for {self.scope} failed: token endpoint unreachable or failing "
                f"({type(exc).__name__})"
            ) from exc
        except ValueError as exc:  # a non-JSON token answer
            raise AuthError(
                f"sign-in for {self.scope} failed: token endpoint answered something that is not JSON"
            ) from exc
        if "access_token" in result:
            log.debug("token for %s from %s", self.scope, result.get("token_source", "?"))
            return str(result["access_token"])
        raise _auth_error(self.scope, result, self._app.remedy)


def _auth_error(scope: str, result: dict[str, Any], remedy: str) -> AuthError:
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").strip().splitlines()
    detail = f"{error}: {description[0]}" if description else error
    return AuthError(
        f"sign-in for {scope} failed: {detail}",
        code=error,
        remedy=remedy,
    )


class BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <token>`` to each request (token fetched per request)."""

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._provider.token()}"
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<token provider>)"
