"""What LocalServer hands its launcher subprocess: a JSON spec file and, for the key, one variable."""

KEY_ENV = "NXS_LAB_SERVER_KEY"  # the API key travels in the environment, never on the command line
