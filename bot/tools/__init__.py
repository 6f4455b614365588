"""Tools around the bot: the command line, the sandbox and local homeserver, the generated
reference, exports, and the shipped configuration as tests run it."""
