"""The due engine: when every requirement of every aircraft is due, and what follows a change."""
