"""Model components: text encoder, latent codecs, denoisers, optional image encoder and head."""
