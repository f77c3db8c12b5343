"""Detectors, backbones, necks, heads, losses and layers of crossdino."""
