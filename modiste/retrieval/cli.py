"""``modiste embed ...``, ``modiste index ...`` and ``modiste search``: similar items from a photo."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from modiste.console import given, writable_folder

embed_app = typer.Typer(no_args_is_help=True, help="Embedding models for similar-item search: train, evaluate.")
index_app = typer.Typer(no_args_is_help=True, help="A persistent catalog index: build, add, remove, info.")


def _box(text: Optional[str]) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        box = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        box = []
    if len(box) != 4:
        raise typer.BadParameter(f"{text!r}: give four shares LEFT,TOP,RIGHT,BOTTOM, e.g. 0.05,0.15,0.95,0.9")
    return box


@embed_app.command("train")
def embed_train(
    data: Optional[Path] = typer.Argument(None, help="Class folders, a labelled CSV, or a pairs CSV (query, catalog, item)."),
    out: Path = typer.Option(..., help="Run folder (config, metrics, curves, checkpoints).", callback=writable_folder),
    backbone: Optional[str] = typer.Option(None, help="efficientnet_lite0|1|2, convnext_<size> or vgg [efficientnet_lite0]."),
    weights: Optional[str] = typer.Option(None, help="imagenet, none (from scratch) or a local weights FILE [imagenet where it ships]."),
    dim: Optional[int] = typer.Option(None, help="Embedding length [128]."),
    size: Optional[int] = typer.Option(None, help="Input side in px [160 pretrained, 64 from scratch]."),
    query_box: Optional[str] = typer.Option(None, help="Pairs: the region of each street photo that shows the item, "
                                                       "LEFT,TOP,RIGHT,BOTTOM shares (e.g. 0.05,0.15,0.95,0.9); searches use it too."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training split [10 pretrained, 20 from scratch]."),
    batch: Optional[int] = typer.Option(None, help="Batch size [64]."),
    m: Optional[int] = typer.Option(None, help="Images per class in a batch [4; raised when there are few classes]."),
    lr: Optional[float] = typer.Option(None, help="AdamW learning rate, cosine decay after warm-up [1e-3]."),
    backbone_lr: Optional[float] = typer.Option(None, help="A pretrained backbone's learning rate as a share of --lr [0.3]."),
    loss: Optional[str] = typer.Option(None, help="triplet (mined) or supcon (every pair of the batch) [triplet]."),
    temperature: Optional[float] = typer.Option(None, help="supcon softmax temperature [0.05]."),
    freeze: Optional[int] = typer.Option(None, help="Leading backbone stages kept as they start [3 pretrained: through stride 8; 0 from scratch]."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast [on for CUDA]."),
    margin: Optional[float] = typer.Option(None, help="Triplet margin [0.2]."),
    mining: Optional[str] = typer.Option(None, help="semi_hard, batch_hard or all [semi_hard]; batch_hard from scratch tends to collapse."),
    id_weight: Optional[float] = typer.Option(None, help="Weight of the class (softmax) loss beside the triplet loss "
                                                         "[1 for class folders, 0 for pairs]."),
    augment: Optional[float] = typer.Option(None, help="Strength of the snap-like augmentation; 0 turns it off [1]."),
    holdout: Optional[float] = typer.Option(None, help="Share held out for the per-epoch retrieval check [0.2]."),
    split: Optional[str] = typer.Option(None, help="Hold out whole classes (class), images of each class (image), or auto."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    seed: Optional[int] = typer.Option(None, help="Seed [0]."),
    workers: Optional[int] = typer.Option(None, help="Image decoding processes."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
):
    """Train an embedding with a triplet loss (batch-hard or semi-hard mining, m-per-class batches).

    Example: modiste embed train data/snaps/pairs.csv --out runs/embed/shop --epochs 20
    Category folders: modiste embed train photos/train --out runs/embed/cat --epochs 15
    Resume:  modiste embed train --out runs/embed/shop --resume
    """
    from modiste.retrieval.embed.train import EmbedConfig, train_embedding

    if data is None and not resume:
        raise typer.BadParameter("give DATA (or --resume an existing run)")
    settings = given(data=str(data) if data else None, out=str(out), backbone=backbone,
                     weights=weights, dim=dim, backbone_lr=backbone_lr, loss=loss, freeze=freeze, amp=amp, temperature=temperature,
                     query_box=_box(query_box), size=size, epochs=epochs, batch=batch, m=m,
                     lr=lr, margin=margin, mining=mining, id_weight=id_weight, holdout=holdout, split=split,
                     minutes=minutes, seed=seed, workers=workers, device=device)
    if augment is not None:
        settings["augment"] = {"strength": augment}
    cfg = EmbedConfig(**settings)
    best = train_embedding(cfg, resume=resume, given=settings)
    summary = json.loads((out / "summary.json").read_text())
    b = summary["best"]
    scores = "  ".join(f"{k} {v:.4f}" for k, v in b.items() if k != "epoch")
    typer.echo(f"best checkpoint {best} (epoch {b['epoch']}): {scores}\ncurves: {out / 'curves.png'}")
    if summary["stop_reason"] != "budget":
        typer.echo(f"stopped early ({summary['stop_reason']}); continue with: modiste embed train --out {out} --resume")


@embed_app.command("eval")
def embed_eval(
    ckpt: Path = typer.Argument(..., help="Embedding run folder (its best checkpoint) or checkpoint."),
    data: Path = typer.Argument(..., help="Queries: class folders, labelled CSV, or a pairs CSV."),
    catalog: Optional[Path] = typer.Option(None, help="References to search among [DATA itself: leave one out, "
                                                      "or the shop photos of a pairs CSV]."),
    out: Optional[Path] = typer.Option(None, help="Folder for eval.json, results.png, embeddings.npz, map/ [RUN/eval].", callback=writable_folder),
    map_method: str = typer.Option("tsne", "--map", help="tsne, pca, or none."),
    workers: Optional[int] = typer.Option(None, help="Image decoding processes."),
):
    """Recall@K and mAP@R of a labelled query/catalog split, and a map of the embeddings.

    Example: modiste embed eval runs/embed/shop data/snaps_test/pairs.csv --out runs/embed/shop/eval
    """
    from modiste.retrieval.embed.evaluate import evaluate_embedding
    from modiste.retrieval.embed.model import Embedder

    model = Embedder.load(ckpt)
    if out is None:
        out = (ckpt if ckpt.is_dir() else model.path.parent.parent) / "eval"
    result = evaluate_embedding(model, data, catalog=catalog, out=out,
                                map_method=None if map_method == "none" else map_method, workers=workers)
    typer.echo(f"{result}\nwrote {out}")


@index_app.command("build")
def index_build(
    images: Path = typer.Argument(..., help="Image folder (class subfolders become labels) or CSV manifest."),
    model: Path = typer.Option(..., help="Embedding run folder or checkpoint."),
    out: Path = typer.Option(..., help="Index folder. An unfinished build there is continued.", callback=writable_folder),
    kind: Optional[str] = typer.Option(None, help="auto, flat (exact), hnsw or ivfpq [auto: exact up to 50k]."),
    batch: int = typer.Option(64, help="Images per embedding batch (and per commit)."),
    columns: Optional[List[str]] = typer.Option(None, "--column", help="Keep only these CSV columns [all]."),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
):
    """Embed every image into a persistent index (embeddings, SQLite metadata, FAISS).

    Example: modiste index build data/cat/catalog.csv --model runs/embed/shop --out runs/index/shop
    """
    from modiste.retrieval.index import build_index

    index, report = build_index(images, model, out, kind=kind, batch=batch, columns=columns, workers=workers)
    typer.echo(f"{report}\n{index}")


@index_app.command("add")
def index_add(
    index: Path = typer.Argument(..., help="Index folder."),
    images: Path = typer.Argument(..., help="Image folder, CSV manifest or one image."),
    model: Optional[Path] = typer.Option(None, help="The index's model [the checkpoint it names]."),
    batch: int = typer.Option(64, help="Images per batch."),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
):
    """Add images; files whose content is already indexed are reported, not added twice.

    Example: modiste index add runs/index/shop new_photos/
    """
    from modiste.retrieval.index import Index, add_images

    with Index.open(index) as ix:
        report = add_images(ix, images, model=model, batch=batch, workers=workers)
        typer.echo(f"{report}\n{ix}")


@index_app.command("remove")
def index_remove(
    index: Path = typer.Argument(..., help="Index folder."),
    items: List[str] = typer.Argument(..., help="Item ids or image paths."),
):
    """Remove items by id or by path (all or nothing).

    Example: modiste index remove runs/index/shop 12 photos/old.jpg
    """
    from modiste.retrieval.index import Index

    targets = [int(t) if t.isdigit() else t for t in items]
    with Index.open(index) as ix:
        try:
            removed = ix.remove(targets)
        except KeyError as e:
            raise typer.BadParameter(str(e.args[0])) from None
        typer.echo(f"removed {len(removed)} item(s); {ix}")


@index_app.command("info")
def index_info(index: Path = typer.Argument(..., help="Index folder.")):
    """What an index holds: count, dimension, structure, model, size on disk.

    Example: modiste index info runs/index/shop
    """
    from modiste.retrieval.index import Index

    with Index.open(index) as ix:
        typer.echo(json.dumps(ix.info(), indent=2))


def search_command(
    queries: List[Path] = typer.Argument(..., help="Query photos (files, a folder or a CSV manifest)."),
    index: Path = typer.Option(..., help="Index folder."),
    k: int = typer.Option(10, help="Results per query."),
    model: Optional[Path] = typer.Option(None, help="The index's model [the checkpoint it names]."),
    out: Path = typer.Option(Path("search"), help="Folder for results.json and results.png.", callback=writable_folder),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
    nprobe: Optional[int] = typer.Option(None, help="IVF cells visited (ivfpq indexes)."),
    ef_search: Optional[int] = typer.Option(None, help="HNSW candidate list (hnsw indexes)."),
    refine: Optional[int] = typer.Option(None, help="IVF-PQ re-ranks refine x k candidates exactly (ivfpq indexes)."),
):
    """Find the catalog items most similar to a photo.

    Example: modiste search snap.jpg --index runs/index/shop --k 10
    """
    from modiste.retrieval.index import search

    sources = [str(q) for q in queries]
    results = search(index, sources if len(sources) > 1 else sources[0], k=k, model=model,
                     **given(nprobe=nprobe, ef_search=ef_search, refine=refine))
    results.save(out)
    if json_out:
        typer.echo(json.dumps(results.to_json(), indent=2))
        return
    for q in results.to_json()["queries"]:
        typer.echo(q["query"])
        for hit in q["results"]:
            label = f"  [{hit['label']}]" if hit.get("label") else ""
            typer.echo(f"  {hit['rank']:>3}  {hit['score']:.4f}  {hit['path']}{label}")
    typer.echo(f"wrote {out / 'results.json'} and {out / 'results.png'}")


def shop_command(
    snaps: List[Path] = typer.Argument(..., help="Street photos (files, folders or CSV manifests)."),
    detector: Path = typer.Option(..., help="Detector run folder or checkpoint."),
    index: Path = typer.Option(..., help="Catalog index folder (modiste index build)."),
    k: int = typer.Option(5, help="Catalog matches per item."),
    same_category: bool = typer.Option(False, help="Only matches of the detected category."),
    score_threshold: float = typer.Option(0.3, "--score-threshold", "--conf", help="Detection score threshold."),
    margin: float = typer.Option(0.1, help="Crop margin around each box, as a fraction of its size."),
    out: Path = typer.Option(Path("shop"), help="Folder for shop.json and index.html.", callback=writable_folder),
):
    """Shop the look: detect the items in a street photo and find each in the catalog.

    Example: modiste shop snap.jpg --detector runs/detect/a --index runs/index/shop --k 5
    """
    from modiste.data.datasets import image_paths
    from modiste.retrieval.shop import shop_the_look

    result = shop_the_look(image_paths(snaps), detector, index, k=k, margin=margin, same_category=same_category,
                           score_threshold=score_threshold)
    result.save(out)
    for look in result.looks:
        typer.echo(look.snap)
        for it in look.items:
            best = it.matches[0]["path"] if it.matches else "-"
            typer.echo(f"  {it.category:<10} {it.score:.2f}  box {it.box}  best match {best}")
    typer.echo(f"wrote {out / 'shop.json'} and {out / 'index.html'}")
