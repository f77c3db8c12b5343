"""Losses: the Boost loss with the Category-Size label (Cross-DINO)."""
from .boost_loss import BoostLoss, boost_loss, boost_size_weight, box_size

__all__ = ['BoostLoss', 'boost_loss', 'boost_size_weight', 'box_size']
