"""The demo end to end at toy scale: every section on one page, the GAN part resumable."""
import pytest

from modiste.demo import run_demo


@pytest.mark.slow
def test_demo_writes_one_page_with_every_section(tmp_path):
    tiny = dict(size=32, g_width=8, d_width=8, batch=16, kimg=0.08, tick_kimg=0.04)
    latent = dict(encoder_steps=6, refine_steps=2, refine_n=8, map_thumb=16)
    search = dict(epochs=1)
    detect = dict(n=24, size=64, epochs=1, batch=8, shop_snaps=2)
    shots = dict(n_products=3, size=32, epochs=1, test_products=2)
    tryon = dict(n=24, g_width=8, d_width=8, batch=8, epochs=1)
    page = run_demo(tmp_path / "demo", n_catalog=64, gan_settings=tiny, latent_settings=latent,
                    search_settings=search, detect_settings=detect, shots_settings=shots, tryon_settings=tryon,
                    progress=False)
    html = page.read_text()
    for title in ("Synthetic catalog", "Safe image loading", "Design generation (GAN)", "Timings",
                  "Latent space: inversion", "Latent space: map of the catalog", "Latent space: everyday vs collection",
                  "Latent space: directions without labels", "Latent space: tags and similar items",
                  "Similar items: street to shop", "Detection and shop the look",
                  "Gallery ordering by regulation", "Virtual try-on (CAGAN)"):
        assert title in html
    for image in ("catalog.png", "loading-letterbox.png", "gan-samples.png", "gan-interpolation.png", "gan/loss.png",
                  "latent/inversion.png", "latent/map/map.png", "latent/edit-style.png", "latent/between.png",
                  "latent/directions.png", "latent/similar/matches.png",
                  "search/street-to-shop.png", "search/embed/curves.png", "detect/scenes.png",
                  "detect/run/pr_curve.png", "shots/gallery.png", "shots/eval/confusion.png", "tryon/pairs.png",
                  "tryon/eval/sheet.png", "tryon/run/curves.png"):
        assert image in html and (tmp_path / "demo" / image).exists(), image
    assert "empty.jpg" in html and "truncated.jpg" in html  # skipped files listed with reasons
    # a second run reuses the finished GAN run instead of refusing the existing folder
    assert run_demo(tmp_path / "demo", n_catalog=64, gan_settings=tiny, latent_settings=latent,
                    search_settings=search, detect_settings=detect, shots_settings=shots, tryon_settings=tryon,
                    progress=False).exists()
