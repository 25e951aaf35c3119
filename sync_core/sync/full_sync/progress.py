"""How far a full-sync job is, as a check sees it, at a cost that does not grow with the job.

A job fed in chunks is followed by its chunks' rows (``JobLogStore.chunk_tally``: one row per
200 records, each the counts of the chunk's latest pass and the ids it sent back to the queue on
their own). While they do not account for every staged record, those counts are the progress.
Once they do, the records sent back are looked up one by one (a few point reads; they are taken
up on their own, some only once a claim is stale); once those have outcomes too, the job's
outcomes are counted exactly, once (``JobLogStore.summary``, which keeps the final counts), so
the finished line shows what the job did to each record, strongest outcome first, whatever the
passes of its chunks said. A job not fed in chunks is counted exactly at every check.
"""

from __future__ import annotations

from sync_core.state.common import empty_counts
from sync_core.state.ports import JobLogStore, JobSummary

POINT_READS_MAX = 100  # more records sent back than this: count the whole job instead


def job_progress(job_log: JobLogStore, job_id: str, chunks: bool) -> JobSummary | None:
    """The job's run and counts so far; ``finished`` only from an exact count."""
    if not chunks:
        return job_log.summary(job_id)
    tally = job_log.chunk_tally(job_id)
    if tally is None:
        return None
    run = tally.run
    done = sum(tally.counts.values())
    if run.finished_enqueue_at is None or done + len(tally.sent_again) + tally.unlisted < run.enqueued:
        return JobSummary(run, tally.counts)
    if tally.unlisted or len(tally.sent_again) > POINT_READS_MAX:
        return job_log.summary(job_id)
    answered = job_log.outcomes_of(job_id, tally.sent_again)
    if done + len(answered) < run.enqueued:
        counts = {**empty_counts(), **tally.counts}
        for outcome in answered.values():
            counts[outcome] += 1
        return JobSummary(run, counts)
    return job_log.summary(job_id)
