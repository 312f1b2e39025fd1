"""herald: a voice appliance daemon for a Raspberry Pi with a speaker."""

__version__ = "0.1.0"
