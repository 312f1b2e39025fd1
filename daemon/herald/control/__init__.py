"""The core: what herald does with a command. Route it, queue it, gate it (mute, quiet
hours), speak it one at a time, and report every step as events and state."""
