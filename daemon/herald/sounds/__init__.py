"""WAV files: the clips folder, the built-in chime, and writing WAV."""
