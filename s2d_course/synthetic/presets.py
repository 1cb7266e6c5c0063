"""The synthetic suite's presets: how many images and clips of each dataset, and for the harder
worlds (``claims``, ``claims2``, ``claims3`` and their dose variants) their class frequencies,
ambiguity, nuisances, expression geometry, appearance cues and timing (:class:`SuitePreset`,
:data:`PRESETS`)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .face import EXPRESSION_GAIN
from .nuisances import NuisanceRates

__all__ = ["SuitePreset", "PRESETS", "CLAIMS2_GAIN", "CLAIMS2_APPEARANCE", "CLAIMS3_DOSES"]

#: The ``claims2`` world's expression geometry (landmark displacement, :data:`.face.EXPRESSION_GAIN`
#: elsewhere) and appearance-cue strength, set by the calibration of ``results/claims_plan.md``.
CLAIMS2_GAIN = 0.2
CLAIMS2_APPEARANCE = 2.5
@dataclass(frozen=True)
class SuitePreset:
    """Sizes of the synthetic suite (number of images / clips per split)."""

    name: str
    rafdb: tuple[int, int]          # train, test images
    affectnet: tuple[int, int]      # training, validation images
    dfew: int                       # clips, split into 5 folds
    ferv39k: tuple[int, int]        # train, test clips
    mafw: int                       # clips, split into 5 folds
    frames: tuple[int, int] = (16, 40)   # min, max clip length
    frame_size: int = 112
    rafdb_size: int = 100
    affectnet_size: int = 128
    layout: str = "synthetic"       # clip folders: "synthetic" or the releases' ("release")
    stratified: bool = False        # labels balanced within each split, not over the whole set
    frequencies: str = "balanced"   # class counts: "balanced" or "real" (frequencies.REAL_COUNTS)
    blend: tuple[float, float] = (0.10, 0.15)  # fraction of two-expression blends: images, clips
    label_noise: float = 0.0        # fraction of each split showing a class confused with its label
    talk: float = 0.35              # fraction of clips with speech-like mouth motion
    hand: float = 0.0               # fractions of clips with each nuisance (see .nuisances)
    motion_blur: float = 0.0
    out_of_view: float = 0.0
    turn: float = 0.0
    gain: float = EXPRESSION_GAIN   # the expression's geometry (landmark displacement) scale
    appearance: float = 0.0         # strength of the appearance cues the landmarks do not carry
    apex_share: float | None = None  # clips: the apex over this share of frames, the rest neutral
    timing: str | None = None       # clips with time in them (.timeline): "realistic" or "pure"
    emphatic: float = 0.0           # with timing: share of the neutral clips that talk emphatically

    def __post_init__(self) -> None:
        if self.frequencies not in ("balanced", "real"):
            raise ValueError(f"frequencies must be 'balanced' or 'real', not {self.frequencies!r}")
        if self.timing not in (None, "realistic", "pure"):
            raise ValueError(f"timing must be None, 'realistic' or 'pure', not {self.timing!r}")

    @property
    def nuisances(self) -> NuisanceRates:
        """The rates of the frame-level nuisances."""
        return NuisanceRates(self.hand, self.motion_blur, self.out_of_view, self.turn)


#: Fields added to SuitePreset after suites were first stamped, left out of the stamp at their
#: defaults so that those suites are still recognised.
_LATER_FIELDS = {"layout": "synthetic", "stratified": False}
#: Fields of the harder worlds; a preset that sets any of them also records what it drew
#: (``nuisance.json``, ``synthetic_labels.csv``).
_WORLD_FIELDS = {"frequencies": "balanced", "blend": (0.10, 0.15), "label_noise": 0.0, "talk": 0.35,
                 "hand": 0.0, "motion_blur": 0.0, "out_of_view": 0.0, "turn": 0.0,
                 "gain": EXPRESSION_GAIN, "appearance": 0.0, "apex_share": None, "timing": None,
                 "emphatic": 0.0}
_LATER_FIELDS.update(_WORLD_FIELDS)


def _records(p: SuitePreset) -> bool:
    return any(getattr(p, key) != default for key, default in _WORLD_FIELDS.items())


PRESETS = {
    "tiny": SuitePreset("tiny", rafdb=(2800, 350), affectnet=(6000, 240), dfew=350,
                        ferv39k=(112, 42), mafw=165),
    "small": SuitePreset("small", rafdb=(5000, 1250), affectnet=(2000, 500), dfew=1400,
                         ferv39k=(700, 210), mafw=880, frames=(16, 48)),
    "mini": SuitePreset("mini", rafdb=(35, 14), affectnet=(24, 8), dfew=20, ferv39k=(14, 7),
                        mafw=22, frames=(10, 20)),
    # A handful per split: the base model scores every test clip in 2 x 2 views on a CPU, so
    # each video test split holds one clip (five DFEW / MAFW clips: one per fold), and the
    # training splits four (the smoke run uses no validation split).
    "paper_smoke": SuitePreset("paper_smoke", rafdb=(14, 7), affectnet=(16, 8), dfew=5,
                               ferv39k=(4, 1), mafw=5, frames=(16, 24), frame_size=224,
                               affectnet_size=224, layout="release", stratified=True),
    # The ablation world: real class frequencies, label noise, blends and every nuisance. Built
    # for RAF-DB (static pretraining) and DFEW (fold 1 tests about 200 clips); the other three
    # are small and only keep the suite complete.
    "claims": SuitePreset("claims", rafdb=(1500, 400), affectnet=(60, 20), dfew=1000,
                          ferv39k=(300, 200), mafw=250, frames=(16, 32), frequencies="real",
                          blend=(0.25, 0.25), label_noise=0.06, talk=0.5, hand=0.3,
                          motion_blur=0.25, out_of_view=0.2, turn=0.2),
}
#: The world of the claims' dose-response curves (``results/claims_plan.md``): the real ordering
#: of cues, appearance (skin colour, tears, wrinkles, teeth, widened eyes) over a weak expression
#: geometry, under the ``claims`` world's nuisances, which make the landmark network's error grow
#: with head turns and occluders. Its clips show the apex over every frame and carry no
#: ambiguity; each variant changes one of those, clip for clip (the same faces, scenes, lengths
#: and head motion): the apex over half or a quarter of the frames (the TMA's dose), or a share
#: of blends with a fifth of that share of label noise (EASDL's dose). Only RAF-DB and DFEW are
#: used; the other datasets are small and keep the suite complete.
PRESETS["claims2"] = SuitePreset(
    "claims2", rafdb=(2000, 500), affectnet=(60, 20), dfew=1000, ferv39k=(30, 20), mafw=25,
    frames=(16, 32), frequencies="real", blend=(0.10, 0.0), label_noise=0.0, talk=0.5, hand=0.3,
    motion_blur=0.25, out_of_view=0.2, turn=0.2, gain=CLAIMS2_GAIN, appearance=CLAIMS2_APPEARANCE,
    apex_share=1.0)
for _share in (0.5, 0.25):
    PRESETS[f"claims2_apex{round(100 * _share)}"] = replace(
        PRESETS["claims2"], name=f"claims2_apex{round(100 * _share)}", apex_share=_share)
for _share in (0.25, 0.5):
    PRESETS[f"claims2_ambiguity{round(100 * _share)}"] = replace(
        PRESETS["claims2"], name=f"claims2_ambiguity{round(100 * _share)}", blend=(0.10, _share),
        label_noise=_share / 5)
#: The worlds with time in them (``results/world_v3_rationale.md``): ``claims2``'s faces, cues and
#: nuisances in clips of 8 consecutive frames at 15 fps (:mod:`.timeline`), 5,000 DFEW clips (each
#: fold tests 1,000). Doses, clip for clip: the share of the neutral clips that talk
#: emphatically (``talk``: speech whose stressed frames look like surprise or fear), the same in
#: the ``pure`` world where order is the only cue, and the share of blended clips of the pairs
#: annotators confuse, trained on one annotator's label (``blend``).
CLAIMS3_DOSES = {"talk": (0.25, 0.5), "pure": (0.0, 0.5), "blend": (0.25, 0.5, 0.75)}
PRESETS["claims3"] = replace(PRESETS["claims2"], name="claims3", dfew=5000, frames=(8, 8),
                             blend=(0.10, 0.0), apex_share=None, timing="realistic")
for _share in CLAIMS3_DOSES["talk"]:
    PRESETS[f"claims3_talk{round(100 * _share)}"] = replace(
        PRESETS["claims3"], name=f"claims3_talk{round(100 * _share)}", emphatic=_share)
for _share in CLAIMS3_DOSES["pure"]:
    PRESETS[f"claims3_pure{round(100 * _share)}"] = replace(
        PRESETS["claims3"], name=f"claims3_pure{round(100 * _share)}", timing="pure", emphatic=_share)
for _share in CLAIMS3_DOSES["blend"]:
    PRESETS[f"claims3_blend{round(100 * _share)}"] = replace(
        PRESETS["claims3"], name=f"claims3_blend{round(100 * _share)}", blend=(0.10, _share))
