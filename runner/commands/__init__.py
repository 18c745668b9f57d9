"""Commands: validate input, decide events, append them. Nothing is written when input is bad."""
