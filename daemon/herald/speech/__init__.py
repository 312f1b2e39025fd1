"""Where a say's audio comes from: the clip cache, Cartesia, the local voice, the chime;
the order between them (`herald.speech.fallback`) and the text handling they share."""
