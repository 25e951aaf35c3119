"""A small OData v4 toolkit for the sandbox emulators: $filter, query engine, HTTP server base."""
