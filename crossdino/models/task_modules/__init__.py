from .boost_loss_cost import BoostLossCost

__all__ = ['BoostLossCost']
