"""The claims engine: the paper's ablation claims, measured in miniature as dose-response curves
(``python -m s2d_course.claims``, ``make claims``; the plan is ``results/claims_plan.md``).

A claim compares an S2D arm with a control that differs in exactly one thing (same data,
epochs, recipe and budget), at each level of a dose where the paper's mechanism predicts the
part helps more:

* ``landmark_view``: MCP with the landmark view vs the same MAE-initialised model without the
  landmark branch, static stage, across the labelled share of RAF-DB (10 / 30 / 100 %);
* ``temporal_attention``: the TMAs' attention over frames vs each frame attending to itself
  alone, and vs the static model's frame average, across the share of frames that show the
  expression (100 / 50 / 25 %); an arm beyond the paper starts the attention wider;
* ``easdl``: cross-entropy with vs without the EASDL term, across label ambiguity (0 / 25 / 50 %
  blended clips, a fifth of that share mislabelled);
* ``static_pretraining``: the video stage from the static checkpoint vs from the MAE backbone,
  across the share of labelled clips (25 / 50 / 100 %).

Its parts, one module each (import a name from the module that defines it):

* :mod:`.setup`: what each claim compares across which dose, the budget, the world and one run;
* :mod:`.budget`: the training budget, chosen on validation (``python -m s2d_course.claims.budget``);
* :mod:`.moved`: what moved while a run trained (validation curve, Fovea, TMA weights);
* :mod:`.measure`: every arm trained and summarised into ``results/claims.json``;
* :mod:`.statistics`: paired differences, intervals, minimum detectable differences, slopes, and
  whether a control trained;
* :mod:`.report`: the claims in words and tables (README, notebooks 02-04);
* :mod:`.plot`: the dose-response figure ``figures/claims.png``;
* :mod:`.check`: the two reference runs re-trained and compared with their calibration seeds
  (``--check``, part of ``make test``);
* ``__main__``: the command line.
"""
