# The embedded synthetic demo (configs/demo/dino_r18_synthetic.py, 3 decoder
# layers) with HMPE: heatmap head, mask filter, MOHFE, HIDQ. The neck stays the
# demo's ChannelMapper, so a DINO vs DINO+HMPE run isolates the heatmap parts.
_base_ = '../demo/dino_r18_synthetic.py'

model = dict(
    type='HMPEDINO',
    hmpe=dict(
        heatmap_head=dict(type='HeatmapHead', feat_channels=32),
        tau=0.3,
        mask_filter=True,
        mohfe=True,
        heat_norm='minmax_levels',
        query_selection='class'))  # HIDQ content at DINO's class top-k
