"""The Open Inference Protocol (KServe V2) door: views, and the codec of its wire format."""
