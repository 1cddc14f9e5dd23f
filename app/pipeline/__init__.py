"""The pipeline: stages over the project store, corrections, and the runner that schedules them.

`graph` (stage order, roles, freshness), `stages` (the stage functions), `interactive` (clicks,
strokes, propagation from corrected frames), `register` (tracks -> project objects), and the runner:
`runner` (`PipelineRunner`, the submit API) over `worker` (the job thread), `jobs` (queue and job
state), `context` (`RunContext`, what a job sees), `backends` (settings, device, loading) and
`writes` (the write queue every pipeline result goes through). No Qt.
"""
