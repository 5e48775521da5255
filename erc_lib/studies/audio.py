"""Notebook 02's audio study: an audio-only classifier under leave-one-speaker-out cross-validation
(:func:`speaker_cv`), the comparison of openSMILE feature sets on labelled speech
(:func:`audio_study`, e.g. EmoDB) and a 2-D projection of the features (:func:`projection_2d`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.model_selection import GridSearchCV, GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..features.audio import FEATURE_DIMS, extract_functionals, feature_set, time_extraction
from ..metrics import classification_metrics
from ..runtime import progress_bar

# ----------------------------------------------------------------------------- audio-only classifier
def speaker_cv(features: np.ndarray, labels: Sequence, speakers: Sequence, label_names: list[str],
               C_grid: Sequence[float] = (0.01, 0.1, 1.0), classifier: str = "svm", inner_folds: int = 3,
               progress: bool = True, seed: int = 0) -> dict:
    """Audio-only classifier under leave-one-speaker-out cross-validation.

    The classifier is ``StandardScaler -> linear SVM`` (``classifier="svm"``, sklearn ``SVC``
    with a linear kernel: fast when the feature set is much larger than the number of files,
    as for ComParE's 6373 dims) or ``StandardScaler -> LogisticRegression``
    (``classifier="logreg"``), in an sklearn ``Pipeline``. Its inverse regularisation ``C`` is
    chosen inside each training fold by an inner ``GroupKFold`` over the training speakers
    (nested CV, scored by weighted F1: the held-out speaker never takes part in any choice).
    With one value in ``C_grid`` there is no inner search.

    Args:
        features: ``(n_files, dim)``.
        labels: ``(n_files,)`` emotion names or ints; ``label_names`` fixes the class order.
        speakers: ``(n_files,)`` speaker ids, the CV groups (``LeaveOneGroupOut``).

    Returns:
        ``{"folds": DataFrame (speaker, weighted_f1, accuracy, macro_f1, C, n), "weighted_f1",
        "accuracy" (mean over folds), "weighted_f1_std", "accuracy_std" (sample std over folds),
        "confusion" (pooled over folds, rows = true), "pooled" (metrics of the pooled
        predictions), "y_true", "y_pred"}``; metrics in percent.

    Raises:
        ValueError: unknown ``classifier`` or fewer than two speakers.
    """
    models = {"svm": lambda: SVC(kernel="linear", random_state=seed),
              "logreg": lambda: LogisticRegression(max_iter=2000, random_state=seed)}
    if classifier not in models:
        raise ValueError(f"classifier must be one of {sorted(models)}, got {classifier!r}")
    X = np.asarray(features, dtype=np.float64)
    names = list(label_names)
    y = np.array([names.index(v) if not isinstance(v, (int, np.integer)) else int(v) for v in labels])
    groups = np.asarray(speakers)
    if len(set(groups)) < 2:
        raise ValueError("speaker_cv needs at least two speakers")
    folds, y_pred = [], np.empty_like(y)
    splits = list(LeaveOneGroupOut().split(X, y, groups))
    for train, test in progress_bar(splits, desc="speaker folds", disable=not progress, leave=False):
        pipe = Pipeline([("scale", StandardScaler()), ("clf", models[classifier]())])
        if len(C_grid) > 1:
            model = GridSearchCV(pipe, {"clf__C": list(C_grid)}, scoring="f1_weighted",
                                 cv=GroupKFold(n_splits=min(inner_folds, len(set(groups[train])))))
            model.fit(X[train], y[train], groups=groups[train])
            C = model.best_params_["clf__C"]
        else:
            model = pipe.set_params(clf__C=C_grid[0]).fit(X[train], y[train])
            C = C_grid[0]
        y_pred[test] = model.predict(X[test])
        m = classification_metrics(y[test], y_pred[test], names)
        folds.append({"speaker": str(groups[test][0]), "weighted_f1": m["weighted_f1"], "accuracy": m["accuracy"],
                      "macro_f1": m["macro_f1"], "C": C, "n": len(test)})
    folds = pd.DataFrame(folds)
    pooled = classification_metrics(y, y_pred, names)
    return {"folds": folds, "weighted_f1": folds.weighted_f1.mean(), "weighted_f1_std": folds.weighted_f1.std(),
            "accuracy": folds.accuracy.mean(), "accuracy_std": folds.accuracy.std(),
            "confusion": pooled["confusion"], "pooled": pooled, "y_true": y, "y_pred": y_pred}


# ----------------------------------------------------------------------------- the notebook-02 study
def audio_study(files: pd.DataFrame, feature_sets: Sequence[str], C_grid: Sequence[float] = (0.01, 0.1, 1.0),
                n_jobs: int = -1, timing_files: int = 100) -> dict:
    """Compare openSMILE feature sets on labelled files (notebook 02, Part 1).

    For every set: functionals of all files (:func:`extract_functionals`, parallel, cached), a
    fresh single-process timing of ``timing_files`` files spread over the list
    (:func:`time_extraction`), and the leave-one-speaker-out classifier (:func:`speaker_cv`).

    Args:
        files: ``path``, ``speaker``, ``emotion`` columns (e.g. :func:`erc_lib.data.emodb.load_emodb`).
        feature_sets: openSMILE set names.

    Returns:
        ``{"features": {set: DataFrame}, "timings": DataFrame, "cv": {set: speaker_cv result},
        "summary": DataFrame (one row per set: dim, mean/std weighted F1 and accuracy over folds,
        formatted "weighted F1"/"accuracy", pooled weighted F1, C chosen, seconds per audio second),
        "rows": one result row per set and held-out speaker, "majority_share" (percent),
        "emotions" (sorted), "best" (set with the best mean weighted F1)}``.
    """
    emotions = sorted(files.emotion.unique())
    picks = np.linspace(0, len(files) - 1, min(timing_files, len(files))).astype(int)
    timing_paths = files.path.iloc[picks].tolist()
    features, timings, cv, summary, rows = {}, [], {}, [], []
    for fs in feature_sets:
        X = extract_functionals(files.path.tolist(), fs, n_jobs=n_jobs)
        features[fs] = X
        t = time_extraction(timing_paths, fs)
        t.update(dim=X.shape[1], expected_dim=FEATURE_DIMS.get(feature_set(fs).name), cached=X.attrs["from_cache"],
                 all_files_seconds=X.attrs["seconds"])
        timings.append(t)
        cv[fs] = result = speaker_cv(X.values, files.emotion, files.speaker, emotions, C_grid=C_grid)
        rows += [{"dataset": "emodb", "model": "linear SVM (audio only)", "variant": fs, "seed": 0,
                  "split": "speaker_fold", "fold": f.speaker, "weighted_f1": f.weighted_f1, "accuracy": f.accuracy,
                  "macro_f1": f.macro_f1, "C": f.C, "n": int(f.n)} for _, f in result["folds"].iterrows()]
        summary.append({"feature_set": fs, "dim": X.shape[1], "weighted_f1_mean": result["weighted_f1"],
                        "weighted_f1_std": result["weighted_f1_std"], "accuracy_mean": result["accuracy"],
                        "accuracy_std": result["accuracy_std"], "pooled_weighted_f1": result["pooled"]["weighted_f1"],
                        "folds": len(result["folds"]),
                        "C chosen": ", ".join(f"{c:g}" for c in sorted(result["folds"].C.unique())),
                        "seconds_per_audio_second": t["seconds_per_audio_second"]})
    table = pd.DataFrame(summary)
    for m in ("weighted_f1", "accuracy"):
        table[m.replace("_", " ").replace("f1", "F1")] = [f"{a:.2f} ± {b:.2f}" for a, b in
                                                          zip(table[f"{m}_mean"], table[f"{m}_std"])]
    timing_table = pd.DataFrame(timings)[["feature_set", "dim", "expected_dim", "files", "audio_seconds", "seconds",
                                          "seconds_per_audio_second", "files_per_second", "cached", "all_files_seconds"]]
    return {"features": features, "timings": timing_table, "cv": cv, "summary": table, "rows": rows,
            "majority_share": 100 * files.emotion.value_counts(normalize=True).max(), "emotions": emotions,
            "best": table.sort_values("weighted_f1_mean", ascending=False).feature_set.iloc[0]}


def projection_2d(features: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Standardised features projected to 2-D: ``{"PCA": (n, 2), "t-SNE": (n, 2)}`` (scikit-learn;
    t-SNE perplexity ``min(30, n / 4)``, PCA initialisation, seeded)."""
    Z = StandardScaler().fit_transform(features)
    return {"PCA": PCA(n_components=2, random_state=seed).fit_transform(Z),
            "t-SNE": TSNE(n_components=2, perplexity=min(30, len(Z) // 4), init="pca",
                          random_state=seed).fit_transform(Z)}
