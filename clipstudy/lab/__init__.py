"""The lab: a procedurally rendered 3D world with known factors, and its named evaluation sets.

World (``world``)
    ``WorldConfig`` (frozen dataclass): the training distribution. Knobs: ``held_out`` (shape classes kept
    out for near-OOD), ``shape_texture_corr`` (P(object gets its class's typical texture)), ``textures``,
    ``colors``, ``backgrounds``, ``styles``/``style_weights`` (diversity), ranges ``yaw pitch roll size x y
    occluder light_az light_el brightness`` and ``occluder_p``. ``.classes`` (label order),
    ``.typical_texture(shape)``, ``.replace(**kw)``, ``.digest()``. Unknown names raise UnknownNameError.
    ``sample_scenes(n, config=WorldConfig(), seed=0, *, shapes=None, balanced=True) -> DataFrame``: one row
    per scene with columns ``SCENE_COLUMNS`` (shape, label, texture, color, background, style, yaw, pitch,
    roll, size, x, y, occluder, occ_angle, occ_offset, light_az, light_el, brightness, tex_seed, bg_seed).
    ``in_range(frame, config) -> DataFrame[bool]`` per factor; ``views(frame, yaw_offsets, pitch_offsets)``.
    Vocabularies: ``SHAPES`` (15: 12 in-distribution + snowman, hourglass, cross held out), ``TEXTURES``,
    ``PATTERNS``, ``COLORS``, ``BACKGROUNDS``, ``STYLES``.

Render (``render``)
    ``render(frame, size=64, camera="ortho"|"perspective", batch=256) -> Render`` with ``image`` uint8
    [B,3,H,W], ``depth`` [B,H,W] (inf = background), ``mask`` [B,H,W] (object visible), ``coords``
    [B,3,H,W] (object-space 3D point; exact cross-view correspondence), ``occluder_mask``,
    ``depth_filled()``. Deterministic: the same rows give byte-identical images at any batch size.
    Torch CPU; on a busy machine set OMP_NUM_THREADS=1 (torch's threads thrash when cores are oversubscribed).

Captions (``captions``)
    ``captions(frame, seed=0, per_image=1, templates=TRAIN_TEMPLATES, p_omit=0.3) -> list[list[str]]``;
    ``HELDOUT_TEMPLATES`` (retrieval only); zero-shot prompts ``ZS_TEMPLATES`` (ensemble) and
    ``SINGLE_TEMPLATE``; ``classnames(config)``. ``tokenizer(texts, context_length=CONTEXT_LENGTH=16)
    -> LongTensor [B,16]``: <sot> words <eot> pad; ``VOCAB`` (pad=0, unk=1, ..., SOT, EOT=len(VOCAB)-1 the
    largest id, so open_clip's default 'argmax' text pooling finds <eot>). For an open_clip text tower use
    ``CLIPTextCfg(context_length=CONTEXT_LENGTH, vocab_size=len(VOCAB), pad_id=0)``.

Corruptions (``corrupt``)
    ``corrupt(images_uint8, depth, name, severity)``; 3D from true depth: ``CORRUPTIONS_3D`` = near_focus,
    far_focus, fog_3d, z_motion_blur, flash; 2D via ``imagecorruptions``: gaussian_noise, contrast, defocus_blur.

Sets (``sets``)
    ``build(name, config=WorldConfig(), n=None, seed=None, *, size=64, cache=True) -> LabSet``; names in
    ``SET_NAMES`` (``DESCRIPTIONS``), defaults ``DEFAULT_N`` / ``DEFAULT_SEED``, ``TRAIN_SIZES`` for the
    size factor. Build EVALUATION sets with the base config (the default) so every recipe is compared on
    the same images; pass the recipe's config to ``build("lab-train", config, n)``.
    ``LabSet``: ``images`` uint8 [N,3,H,W], ``labels`` long [N] (-1 = OOD), ``factors`` DataFrame (one row per
    image), ``captions`` list[list[str]], ``classnames``, ``extras`` (depth / mask / coords /
    correspondences where the set has them), ``meta``; ``.dataset(transform=None)`` -> engine Dataset
    (item -> (image, label, key "name/000123"); None = float tensor normalised with MEAN/STD (open_clip's
    OpenAI constants), a callable receives a PIL image); ``.normalised(idx)`` fast float batch;
    ``.texts()`` -> (flat captions, image_to_texts). ``build_all(config)``, ``shift(frame, factor, config)``,
    ``correspondences(...)``, ``example_grid(sets, path)``. Cache: cache_root()/lab/sets/<name>-<hash>.pt.
"""
from .world import SCENE_COLUMNS, SHAPES, WorldConfig, sample_scenes  # noqa: F401
