"""A CTR model for copy: predicts a message's CTR from its text (embedding) and where it runs.

Estimator contract: settings in ``__init__``, ``fit`` returns self, learned state in ``*_``.
Rows are message x context cells summed over the period (creative_type, audience_type, platform,
country); the target is the empirical logit of CTR, ``log((clicks + .5) / (impressions - clicks
+ .5))``, weighted by impressions; features are the message embedding plus one-hot context.
The model is ridge regression, its penalty chosen by grouped CV inside each training fold.

Validation is grouped K-fold **by message** (a message is never in both train and test): we report
the out-of-fold Spearman correlation at message level (impression-weighted predicted vs observed
CTR of each held-out message) and at cell level, a calibration slope/intercept (observed logit on
predicted) with binned calibration, and the same score for a context-only model. Because messages
run in different placements, message CTR is partly predictable from context alone; the model is
said to have predictive power *for copy* only when, on held-out messages, the CTR beyond what the
context-only model predicts ranks with the text's predicted part (Spearman > 0, p < ``alpha``);
otherwise the report says so plainly.

Intervals for a new message: the predicted logit plus the empirical quantiles of the out-of-fold
message-level residuals (a split-conformal style interval), mapped back to CTR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats
from sklearn.decomposition import PCA
from sklearn.model_selection import GroupKFold

from fb_analyst.creative.result import CalibrationBin, CtrModelReport, Interval

ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)


def _logit(clicks: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    return np.log((clicks + 0.5) / (impressions - clicks + 0.5))


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class RidgeFit:
    """One fitted weighted ridge: ``predict(x) = x @ coef + intercept`` (the intercept unpenalised)."""

    def __init__(self, alpha: float, coef: np.ndarray, intercept: float):
        self.alpha, self.coef_, self.intercept_ = alpha, coef, intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_ + self.intercept_


def ridge_path(x: np.ndarray, y: np.ndarray, w: np.ndarray, alphas: tuple[float, ...]) -> list[RidgeFit]:
    """Weighted ridge with an intercept for every penalty in ``alphas``, from one Gram matrix.

    The same estimator as scikit-learn's ``Ridge(alpha, fit_intercept=True).fit(x, y, sample_weight=w)``
    (weighted centring, then the normal equations ``(Xc' W Xc + alpha I) b = Xc' W yc``), but the
    Gram matrix is built once per training set instead of once per penalty: the grouped CV fits
    96 ridges per model, and building/validating a fresh estimator for each dominated the creative
    stage (BENCHMARKS.md, "Whole run").
    """
    ws = float(w.sum())
    x_mean, y_mean = (w @ x) / ws, float(w @ y) / ws
    xc = x - x_mean
    xw = xc * w[:, None]
    gram, rhs = xc.T @ xw, xw.T @ (y - y_mean)
    eye = np.eye(x.shape[1])
    fits = []
    for a in alphas:
        coef = linalg.solve(gram + a * eye, rhs, assume_a="pos") if x.shape[1] else np.zeros(0)
        fits.append(RidgeFit(float(a), coef, y_mean - float(x_mean @ coef)))
    return fits


class CtrModel:
    """Ridge on logit CTR from [embedding, one-hot context], weighted by impressions."""

    def __init__(self, context: list[str], folds: int = 5, alpha: float = 0.05, seed: int = 0,
                 use_text: bool = True, max_components: int = 32):
        self.context = context
        self.folds = folds
        self.alpha = alpha
        self.seed = seed
        self.use_text = use_text
        self.max_components = max_components

    # -- features ---------------------------------------------------------------------------
    def _context_matrix(self, cells: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in self.context:
            for level in self.levels_[c]:
                cols.append((cells[c].astype(str) == level).to_numpy(float))
        return np.column_stack(cols) if cols else np.zeros((len(cells), 0))

    def _project(self, emb: np.ndarray) -> np.ndarray:
        return self.pca_.transform(emb)

    def _features(self, cells: pd.DataFrame, emb: np.ndarray) -> np.ndarray:
        return self._stack(emb, self._context_matrix(cells))

    def _stack(self, emb: np.ndarray, ctx: np.ndarray) -> np.ndarray:
        return np.hstack([emb, ctx]) if self.use_text else ctx

    def _ridge(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray) -> RidgeFit:
        """Ridge with the penalty chosen by an inner grouped CV (weighted squared error)."""
        n_groups = len(np.unique(groups))
        best = ALPHAS[len(ALPHAS) // 2]
        if n_groups >= 3:
            inner = GroupKFold(n_splits=min(3, n_groups))
            losses = np.zeros(len(ALPHAS))
            for tr, te in inner.split(x, y, groups):
                for i, m in enumerate(ridge_path(x[tr], y[tr], w[tr], ALPHAS)):
                    losses[i] += float(np.sum(w[te] * (m.predict(x[te]) - y[te]) ** 2))
            best = ALPHAS[int(np.argmin(losses))]
        return ridge_path(x, y, w, (best,))[0]

    # -- fit --------------------------------------------------------------------------------
    def fit(self, cells: pd.DataFrame, emb_of: dict[str, np.ndarray]) -> "CtrModel":
        """``cells``: creative_message, context columns, clicks, impressions (period sums)."""
        d = cells[(cells["impressions"] > 0) & cells["clicks"].notna()].reset_index(drop=True)
        self.levels_ = {c: sorted(d[c].astype(str).unique()) for c in self.context}
        self.dim_ = len(next(iter(emb_of.values())))
        # Text enters through its top principal components (fitted on the messages, no labels):
        # fewer free parameters than messages keeps ridge stable and fast.
        distinct = sorted(set(d["creative_message"]))
        m = np.stack([emb_of[t] for t in distinct])
        self.n_components_ = int(max(1, min(self.max_components, len(distinct) - 1, m.shape[1])))
        self.pca_ = PCA(n_components=self.n_components_, random_state=self.seed).fit(m)
        emb = self._project(np.stack([emb_of[t] for t in d["creative_message"]]))
        x = self._features(d, emb)
        y = _logit(d["clicks"].to_numpy(float), d["impressions"].to_numpy(float))
        w = d["impressions"].to_numpy(float)
        w = w / w.mean()
        groups = d["creative_message"].to_numpy()
        n_groups = len(np.unique(groups))
        self.n_cells_, self.n_messages_ = len(d), n_groups
        self.oof_ = np.full(len(d), np.nan)
        if n_groups >= 3:
            outer = GroupKFold(n_splits=min(self.folds, n_groups))
            for tr, te in outer.split(x, y, groups):
                self.oof_[te] = self._ridge(x[tr], y[tr], w[tr], groups[tr]).predict(x[te])
        self.model_ = self._ridge(x, y, w, groups)
        self.alpha_ = float(self.model_.alpha)
        self.cells_ = d.assign(_y=y, _w=w, _oof=self.oof_)
        # Per message: observed vs out-of-fold clicks (read by scores and text_skill too) and the
        # residuals for intervals (impression-weighted logits).
        msg = self.message_level_ = self._message_level()
        self.residuals_ = (msg["obs_logit"] - msg["pred_logit"]).to_numpy() if len(msg) else np.array([])
        return self

    def _message_level(self) -> pd.DataFrame:
        d = self.cells_[np.isfinite(self.cells_["_oof"])]
        if d.empty:
            return pd.DataFrame(columns=["obs_ctr", "pred_ctr", "obs_logit", "pred_logit", "impressions"])
        pred_clicks = _expit(d["_oof"].to_numpy()) * d["impressions"].to_numpy()
        g = d.assign(_pc=pred_clicks).groupby("creative_message")[["clicks", "impressions", "_pc"]].sum()
        g["obs_ctr"] = g["clicks"] / g["impressions"]
        g["pred_ctr"] = g["_pc"] / g["impressions"]
        g["obs_logit"] = _logit(g["clicks"].to_numpy(), g["impressions"].to_numpy())
        g["pred_logit"] = np.log(g["pred_ctr"] / (1 - g["pred_ctr"]))
        return g

    # -- predict ----------------------------------------------------------------------------
    def predict_ctr(self, contexts: pd.DataFrame, emb: np.ndarray, level: float) -> Interval:
        """Impression-weighted CTR of one message ``emb`` across ``contexts`` (with impressions)."""
        return self.predict_ctr_many(contexts, emb[None, :], level)[0]

    def predict_ctr_many(self, contexts: pd.DataFrame, embs: np.ndarray, level: float) -> list[Interval]:
        """:meth:`predict_ctr` for each row of ``embs`` (the context features are built once)."""
        rows = contexts.reset_index(drop=True)
        ctx = self._context_matrix(rows)
        w = rows["impressions"].to_numpy(float)
        w = w / w.sum() if w.sum() > 0 else np.full(len(rows), 1 / max(len(rows), 1))
        bounds = None
        if len(self.residuals_) >= 5:
            bounds = np.quantile(self.residuals_, [(1 - level) / 2, (1 + level) / 2])
        out = []
        for e in self._project(embs):
            x = self._stack(np.repeat(e[None, :], len(rows), axis=0), ctx)
            point = float(np.sum(w * _expit(self.model_.predict(x))))
            if bounds is None:
                out.append(Interval(value=point, level=level,
                                    undefined_reason="too few held-out messages for an interval"))
                continue
            zbar = np.log(point / (1 - point))
            out.append(Interval(value=point, lower=float(_expit(zbar + bounds[0])),
                                upper=float(_expit(zbar + bounds[1])), level=level))
        return out

    # -- report -----------------------------------------------------------------------------
    def scores(self) -> dict[str, float | None]:
        msg = self.message_level_
        out: dict[str, float | None] = {"spearman_message": None, "spearman_message_p": None,
                                        "spearman_cell": None, "slope": None, "intercept": None}
        if len(msg) >= 3 and msg["pred_ctr"].nunique() > 1:
            rho, p = stats.spearmanr(msg["pred_ctr"], msg["obs_ctr"])
            out["spearman_message"], out["spearman_message_p"] = float(rho), float(p)
            wts = msg["impressions"].to_numpy() / msg["impressions"].mean()
            xs, ys = msg["pred_logit"].to_numpy(), msg["obs_logit"].to_numpy()
            xm, ym = np.average(xs, weights=wts), np.average(ys, weights=wts)
            vx = np.average((xs - xm) ** 2, weights=wts)
            if vx > 0:
                slope = np.average((xs - xm) * (ys - ym), weights=wts) / vx
                out["slope"], out["intercept"] = float(slope), float(ym - slope * xm)
        d = self.cells_[np.isfinite(self.cells_["_oof"])]
        if len(d) >= 3:
            out["spearman_cell"] = float(stats.spearmanr(d["_oof"], d["_y"])[0])
        return out

    def calibration_bins(self, n_bins: int = 10) -> list[CalibrationBin]:
        d = self.cells_[np.isfinite(self.cells_["_oof"])].copy()
        if d.empty:
            return []
        d["_p"] = _expit(d["_oof"].to_numpy())
        d["_bin"] = pd.qcut(d["_p"].rank(method="first"), q=min(n_bins, len(d)), labels=False)
        bins = []
        for _, g in d.groupby("_bin"):
            imp = float(g["impressions"].sum())
            bins.append(CalibrationBin(
                predicted_ctr=float((g["_p"] * g["impressions"]).sum() / imp),
                observed_ctr=float(g["clicks"].sum() / imp), impressions=imp, n_cells=len(g)))
        return bins


def text_skill(model: CtrModel, base: CtrModel) -> tuple[float | None, float | None]:
    """Spearman over held-out messages of log(observed / context-only) vs log(full / context-only),
    from each model's message-level out-of-fold clicks (both are fitted on the same cells and folds)."""
    full, ctx = model.message_level_, base.message_level_
    if len(full) < 3:
        return None, None
    observed = np.log((full["clicks"] + 0.5) / ctx["_pc"])
    predicted = np.log(full["_pc"] / ctx["_pc"])
    if predicted.nunique() < 2:
        return None, None
    rho, p = stats.spearmanr(predicted, observed)
    return float(rho), float(p)


def evaluate_ctr_model(
    cells: pd.DataFrame, emb_of: dict[str, np.ndarray], context: list[str], *, folds: int,
    alpha: float, seed: int, embedder_name: str,
) -> tuple[CtrModel, CtrModelReport]:
    """Fit the text+context model and a context-only model; report grouped-CV scores."""
    model = CtrModel(context, folds=folds, alpha=alpha, seed=seed).fit(cells, emb_of)
    base = CtrModel(context, folds=folds, alpha=alpha, seed=seed, use_text=False).fit(cells, emb_of)
    s, sb = model.scores(), base.scores()
    rho, p, rho_ctx = s["spearman_message"], s["spearman_message_p"], sb["spearman_message"]
    rho_t, p_t = text_skill(model, base)
    power = bool(rho_t is not None and p_t is not None and rho_t > 0 and p_t < alpha)
    if rho is None or rho_t is None:
        statement = "Not enough distinct messages to validate a CTR model; predictions are not trustworthy."
    elif power:
        statement = (f"The copy itself carries predictive signal: on held-out messages, the CTR beyond what "
                     f"their placements and audiences predict ranks with the model's text prediction at "
                     f"Spearman {rho_t:.2f} (p={p_t:.2g}); overall message CTR ranks at {rho:.2f} "
                     f"(context alone {'n/a' if rho_ctx is None else f'{rho_ctx:.2f}'}).")
    else:
        statement = (f"No predictive power for copy: on held-out messages the model's text prediction does not "
                     f"rank the CTR beyond what context predicts (Spearman {rho_t:.2f}, p={p_t:.2g}). Message CTR "
                     f"ranks at {rho:.2f} overall, {'n/a' if rho_ctx is None else f'{rho_ctx:.2f}'} from context "
                     "alone. Treat predicted CTRs as context baselines, not as evidence that a text will do "
                     "better; the A/B test decides.")
    report = CtrModelReport(
        model="ridge regression on empirical-logit CTR, weighted by impressions",
        features=[f"text embedding ({embedder_name}, {model.dim_} dims -> {model.n_components_} principal components)"] + [f"one-hot {c}" for c in context],
        n_cells=model.n_cells_, n_messages=model.n_messages_,
        cv_folds=min(folds, model.n_messages_), cv_grouping="GroupKFold by creative_message",
        alpha=model.alpha_, spearman_message=rho, spearman_message_p=p,
        spearman_cell=s["spearman_cell"], spearman_context_only=rho_ctx,
        spearman_text=rho_t, spearman_text_p=p_t,
        calibration_slope=s["slope"], calibration_intercept=s["intercept"],
        calibration_bins=model.calibration_bins(), has_predictive_power=power, statement=statement,
        interval_method="predicted logit + empirical quantiles of out-of-fold message-level residuals",
    )
    return model, report
