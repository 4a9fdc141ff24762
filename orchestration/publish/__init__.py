"""Publishing: the checked work file's public tables become the serving file BI tools read."""
