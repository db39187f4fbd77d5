"""Recorded outputs of real models, parsed into replay judgements for offline study.

One module per recording set: :mod:`labelquorum.recordings.llms_for_css` (13 LLMs on 13
computational-social-science tasks, Ziems et al. 2024) and
:mod:`labelquorum.recordings.celeba_vlm` (a VLM, the crowd and a re-annotation on CelebA
attributes, Lu & Zhong 2024).
"""

from . import llms_for_css

__all__ = ["llms_for_css"]
