"""One-off tools that make the feature extractors the metrics read: the digits classifier
(``train_classifier``) and the FID Inception-v3 weights (``convert_inception``)."""
