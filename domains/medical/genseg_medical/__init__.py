"""genseg plugin: medical imaging (CT, MR, endoscopy, dermoscopy)."""

__version__ = "0.1.0"
