"""Fakes for the one thing tests don't run for real: the model behind the Anthropic API."""
