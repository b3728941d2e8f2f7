"""akshift: the command-line front end that ties stacks, migration and sandbox together."""
