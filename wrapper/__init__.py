"""How a legacy model becomes a served model: errors, batches, settings, config, decorator, codecs."""
