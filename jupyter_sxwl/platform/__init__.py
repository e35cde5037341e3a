"""The platform service: REST API, jobs, queues, the dispatcher."""
