# Proxy benchmark: HMPE-DINO's heatmap parts (head, mask filter, MOHFE, HIDQ)
# on DINO's ChannelMapper neck, without Linear-Snake Conv.
_base_ = './hmpe-dino_r18_proxy.py'
model = dict(neck=dict(type='ChannelMapper', _delete_=True,
                       **{k: v for k, v in _base_.model.neck.items()
                          if k not in ('type', 'lsconv')}))
