"""Comparing eval runs: find and load them (`runs`), paired statistics (`stats`), tables (`render`),
the HTML report (`report`), and the pipeline that logs a comparison run (`pipeline`)."""
