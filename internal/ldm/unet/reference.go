package unet

// ReferenceConfig is the reference's unet_config.params (config.yaml, and the
// "config" of the parity fixtures), with JSON names as there.
type ReferenceConfig struct {
	ImageSize            int   `json:"image_size"`
	InChannels           int   `json:"in_channels"`
	OutChannels          int   `json:"out_channels"`
	ModelChannels        int   `json:"model_channels"`
	AttentionResolutions []int `json:"attention_resolutions"`
	NumResBlocks         int   `json:"num_res_blocks"`
	ChannelMult          []int `json:"channel_mult"`
	NumHeads             int   `json:"num_heads"`
	TransformerDepth     int   `json:"transformer_depth"`
	ContextDim           int   `json:"context_dim"`
	UseTimeCond          bool  `json:"use_time_cond"`
}

// Config converts the reference settings; the normalisation constants and
// the 77-token context are the reference's fixed values.
func (r ReferenceConfig) Config() Config {
	c := Cin256()
	c.ImageSize, c.InChannels, c.OutChannels = r.ImageSize, r.InChannels, r.OutChannels
	c.ModelChannels, c.NumResBlocks = r.ModelChannels, r.NumResBlocks
	c.ChannelMult = append([]int(nil), r.ChannelMult...)
	c.AttentionRes = append([]int(nil), r.AttentionResolutions...)
	c.NumHeads, c.Depth, c.ContextDim = r.NumHeads, r.TransformerDepth, r.ContextDim
	c.UseTimeCond = r.UseTimeCond
	return c
}
