"""The learned score: fit on the team's own outcomes, keep the better model,
store it, and predict with each feature's contribution.

Label: lead_status converted = 1, lost = 0; other leads are unlabeled. A
stratified held-out quarter (fixed seed) measures a logistic regression
and a gradient boosting model; the one with the higher held-out AUC is
stored, fitted on the training part, so the metrics stored beside it are
the ones of that very estimator.

A contribution is how many score points (0..100) a feature moves the lead
away from the baseline lead (the training median of every feature). First
its effect on the log-odds: for the linear model its coefficient times its
(scaled) difference from the baseline, exactly additive; for gradient
boosting the log-odds minus those with that one feature set to its
baseline, predicted again only for the leads where it differs (most
indicator columns are 0 for most leads), batched per column. Then to
points with one slope per lead, (p - p_base) / (logit - logit_base): the
linear model's points add up to 100 (p - p_base) exactly, boosting's
approximately. Probability deltas taken one feature at a time would not
do: near p = 0.99 removing any one good sign barely moves p, and a lead
with three strong signals would be explained by none of them.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session, defer

from leadbase import audit, context
from leadbase.db import Database, serialize_writers
from leadbase.errors import LeadbaseError, ValidationError
from leadbase.models.scoring import ScoringModel
from leadbase.scoring import features

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# scikit-learn and joblib are imported where a model is fitted or loaded,
# not here: every `leadbase` command and the app import this module, and
# scikit-learn takes most of a second to import.

POSITIVE, NEGATIVE = "converted", "lost"
LOGISTIC, BOOSTING = "logistic_regression", "gradient_boosting"
TEST_SHARE = 0.25
DEFAULT_SEED = 15
CALIBRATION_BINS = 10
# The contributions an explanation lists: the largest ones, at least a
# tenth of a point each (a feature at its baseline contributes nothing).
MAX_CONTRIBUTIONS = 12
MIN_POINTS = 0.1
PREDICT_BATCH = 5000

Matrix = np.ndarray[Any, Any]


class TooFewOutcomesError(LeadbaseError):
    """Not enough converted or lost leads to learn from and measure on."""

    status_code = 422
    code = "too_few_outcomes"

    def __init__(self, needed: int, converted: int, lost: int) -> None:
        super().__init__(
            f"training needs at least {needed} converted and {needed} lost leads; "
            f"this database has {converted} converted and {lost} lost"
        )
        self.needed, self.converted, self.lost = needed, converted, lost


@dataclass(frozen=True)
class Prediction:
    probability: float
    # [{"feature": "events=demo", "points": 12.3}, ...], largest magnitude first.
    contributions: list[dict[str, Any]]


@dataclass(frozen=True)
class TrainResult:
    version: int
    algorithm: str
    auc: dict[str, float]
    metrics: dict[str, Any]
    features: list[str]


@dataclass
class LoadedModel:
    id: str
    version: int
    algorithm: str
    columns: list[str]
    estimator: Any
    baseline: Matrix
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(
        self, session: Session, lead_ids: list[str], *, now: datetime | None = None
    ) -> dict[str, Prediction]:
        """The probability of converting, and why, for each existing lead
        (recency counted up to ``now``, by default the present)."""
        rows = features.lead_features(session, lead_ids, now=now)
        return self.predict_rows(rows)

    def predict_rows(self, rows: dict[str, features.Row]) -> dict[str, Prediction]:
        ids = list(rows)
        out: dict[str, Prediction] = {}
        with _one_thread():
            for start in range(0, len(ids), PREDICT_BATCH):
                batch = ids[start : start + PREDICT_BATCH]
                x = features.matrix([rows[i] for i in batch], self.columns)
                p = self.estimator.predict_proba(x)[:, 1]
                points = self._points(x)
                out.update(zip(batch, self._explain(p, points), strict=True))
        return out

    def _points(self, x: Matrix) -> Matrix:
        """Each feature's points for each row of ``x`` (see the module doc)."""
        logit = self.estimator.decision_function(x)
        if self.algorithm == LOGISTIC:
            effects = _linear_effects(self.estimator, x, self.baseline)
        else:
            effects = _replaced_effects(self.estimator, x, logit, self.baseline)
        base = float(self.estimator.decision_function(self.baseline[None, :])[0])
        return 100 * _secant(logit, base)[:, None] * effects

    def _explain(self, p: Matrix, points: Matrix) -> list[Prediction]:
        order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :MAX_CONTRIBUTIONS]
        found = []
        for i in range(len(p)):
            contributions = [
                {"feature": self.columns[j], "points": round(float(points[i, j]), 1)}
                for j in order[i]
                if abs(points[i, j]) >= MIN_POINTS
            ]
            found.append(Prediction(float(p[i]), contributions))
        return found


def _linear_effects(pipeline: Pipeline, x: Matrix, baseline: Matrix) -> Matrix:
    """Each feature's effect on the log-odds: coefficient x (scaled value -
    scaled baseline). They add up to the logit minus the baseline's."""
    scaler, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
    scaled: Matrix = scaler.transform(x) - scaler.transform(baseline[None, :])
    effects: Matrix = scaled * model.coef_[0]
    return effects


def _replaced_effects(estimator: Any, x: Matrix, logit: Matrix, baseline: Matrix) -> Matrix:
    """Each feature's effect on the log-odds: the logit minus the logit with
    that feature at its baseline, predicted again only for the rows where
    it is not at its baseline (elsewhere the effect is 0)."""
    effects = np.zeros_like(x)
    differs = x != baseline
    for j in np.flatnonzero(differs.any(axis=0)):
        rows = np.flatnonzero(differs[:, j])
        replaced = x[rows]
        replaced[:, j] = baseline[j]
        effects[rows, j] = logit[rows] - estimator.decision_function(replaced)
    return effects


def _secant(logit: Matrix, base: float) -> Matrix:
    """Probability per unit of log-odds between the baseline lead and each
    lead: (p - p_base) / (logit - logit_base), the slope of the sigmoid
    where the two are one point. Effects times it are probability, and for
    the linear model they add up to p - p_base exactly."""
    gap = logit - base
    near = np.abs(gap) < 1e-9
    slope = (_sigmoid(logit) - _sigmoid(np.full_like(logit, base))) / np.where(near, 1.0, gap)
    tangent = _sigmoid(logit) * (1 - _sigmoid(logit))
    result: Matrix = np.where(near, tangent, slope)
    return result


def _one_thread() -> Any:
    """Fit and predict on one thread. OpenMP's worker threads spin while
    they wait: on two shared cores (a web server, job threads, other
    processes) gradient boosting on 400 leads took 9 s instead of 0.4 s.
    One thread also keeps the sums in a fixed order, so a reloaded model
    predicts bit for bit what it did."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _sigmoid(z: Matrix) -> Matrix:
    return 1 / (1 + np.exp(-z))


# -- training ---------------------------------------------------------------


def _estimators(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        LOGISTIC: Pipeline(
            [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=2000))]
        ),
        BOOSTING: HistGradientBoostingClassifier(max_iter=300, random_state=seed),
    }


def calibration(y: Matrix, p: Matrix, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Predicted vs observed conversion rate per probability band (the
    bands holding at least one held-out lead)."""
    band = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        inside = band == b
        if inside.any():
            table.append(
                {
                    "lower": b / bins,
                    "upper": (b + 1) / bins,
                    "count": int(inside.sum()),
                    "predicted": round(float(p[inside].mean()), 4),
                    "observed": round(float(y[inside].mean()), 4),
                }
            )
    return table


def _fit_both(x: Matrix, y: Matrix, seed: int) -> tuple[str, Any, dict[str, Any]]:
    """Fit both algorithms on the training part; keep the better held-out AUC
    (the linear one on a tie: simpler to read)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SHARE, stratify=y, random_state=seed
    )
    auc: dict[str, float] = {}
    fitted: dict[str, tuple[Any, Matrix]] = {}
    seconds: dict[str, float] = {}
    for name, estimator in _estimators(seed).items():
        started = time.perf_counter()
        with _one_thread():
            estimator.fit(x_train, y_train)
            p = estimator.predict_proba(x_test)[:, 1]
        seconds[name] = round(time.perf_counter() - started, 3)
        auc[name] = round(float(roc_auc_score(y_test, p)), 4)
        fitted[name] = (estimator, p)
    kept = LOGISTIC if auc[LOGISTIC] >= auc[BOOSTING] else BOOSTING
    estimator, p = fitted[kept]
    metrics = {
        "auc": auc[kept],
        "auc_by_algorithm": auc,
        "fit_seconds": seconds,
        "brier": round(float(brier_score_loss(y_test, p)), 4),
        "calibration": calibration(y_test, p),
        "train": _counts(y_train),
        "test": _counts(y_test),
    }
    return kept, estimator, metrics


def _counts(y: Matrix) -> dict[str, int]:
    positive = int(y.sum())
    return {POSITIVE: positive, NEGATIVE: len(y) - positive}


def train(database: Database, *, min_each: int = 50, seed: int = DEFAULT_SEED) -> TrainResult:
    """Fit on every live converted or lost lead, store the better model as
    the next version and make it the active one.

    Raises TooFewOutcomesError (422) below ``min_each`` of either outcome.
    """
    if min_each < 4:
        raise ValidationError("min_each", "at least 4 of each outcome (a held-out split needs 2)")
    started = time.perf_counter()
    with database.read_session() as session:
        labelled = features.labelled_leads(session, POSITIVE, NEGATIVE)
        converted = sum(label for _, label in labelled)
        if min(converted, len(labelled) - converted) < min_each:
            raise TooFewOutcomesError(min_each, converted, len(labelled) - converted)
        rows = features.lead_features(
            session, [lead_id for lead_id, _ in labelled], before_outcome=True
        )
    columns = features.vocabulary(rows.values(), min_support=max(3, len(rows) // 500))
    x = features.matrix([rows[lead_id] for lead_id, _ in labelled], columns)
    y = np.array([label for _, label in labelled])
    kept, estimator, metrics = _fit_both(x, y, seed)
    metrics |= {"seed": seed, "train_seconds": round(time.perf_counter() - started, 3)}
    baseline = np.median(x, axis=0)
    version = _store(database, kept, columns, metrics, _dump(estimator, baseline))
    return TrainResult(version, kept, metrics["auc_by_algorithm"], metrics, columns)


def _dump(estimator: Any, baseline: Matrix) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump({"estimator": estimator, "baseline": baseline}, buffer, compress=3)
    return buffer.getvalue()


def _store(
    database: Database, algorithm: str, columns: list[str], metrics: dict[str, Any], blob: bytes
) -> int:
    with database.unit_of_work() as uow:
        session = uow.session
        # One writer at a time: two trainings cannot both take the next version.
        serialize_writers(session)
        version = (session.scalar(select(func.max(ScoringModel.version))) or 0) + 1
        session.execute(
            update(ScoringModel).where(ScoringModel.is_active == true()).values(is_active=False)
        )
        model = ScoringModel(
            version=version,
            algorithm=algorithm,
            features=columns,
            metrics=metrics,
            estimator=blob,
            is_active=True,
            trained_by=context.current().actor,
        )
        session.add(model)
        session.flush()
        audit.append(
            session,
            "scoring_model",
            model.id,
            "train",
            {
                "version": [None, version],
                "algorithm": [None, algorithm],
                "auc": [None, metrics["auc"]],
            },
        )
    return version


# -- loading ----------------------------------------------------------------

# Loaded models by id (a stored model never changes): a scoring job per
# 1,000 leads unpickles the estimator once per process, not once per job.
_loaded: dict[str, LoadedModel] = {}
_loading = threading.Lock()


def active_model(session: Session) -> LoadedModel | None:
    """The model in use, or None before the first training."""
    model_id = session.scalar(select(ScoringModel.id).where(ScoringModel.is_active == true()))
    if model_id is None:
        return None
    with _loading:
        if model_id not in _loaded:
            row = session.get_one(ScoringModel, model_id)
            _loaded.clear()  # only the active one is worth keeping
            _loaded[model_id] = _load(row)
        return _loaded[model_id]


def active_row(session: Session) -> ScoringModel | None:
    """The active model's stored row (metrics, features), for showing it:
    the estimator's bytes stay in the database."""
    stmt = (
        select(ScoringModel)
        .options(defer(ScoringModel.estimator))
        .where(ScoringModel.is_active == true())
    )
    return session.scalars(stmt).first()


def _load(row: ScoringModel) -> LoadedModel:
    import joblib

    # joblib unpickles: only bytes this database's own `score train` wrote
    # are loaded, from the table only admins' database access can write.
    bundle = joblib.load(io.BytesIO(row.estimator))
    return LoadedModel(
        id=row.id,
        version=row.version,
        algorithm=row.algorithm,
        columns=list(row.features),
        estimator=bundle["estimator"],
        baseline=bundle["baseline"],
        metrics=dict(row.metrics),
    )
