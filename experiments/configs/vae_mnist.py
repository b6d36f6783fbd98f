"""MLP VAE 784-400-20 with a Bernoulli decoder on binarized MNIST (Kingma & Welling, 2013), IWAE-5000
test bound (Burda et al., 2015)."""

from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("vae", "mnist"), num_steps=300_000, batch_size=128)
    c.model.architecture = "mlp"
    c.model.hidden = (400,)
    c.model.latent_dim = 20
    c.model.likelihood = "bernoulli"
    c.model.sample_output = "draw"  # judged against the binarized test images
    c.model.kl_warmup_steps = 10_000
    c.model.iwae_samples = 5000
    c.model.iwae_chunk = 500
    c.binarize_threshold = 127
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    return c
