"""voiceclone: an asyncio SDK for MiniMax voice cloning."""

__version__ = "0.1.0"
