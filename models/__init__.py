"""The multi-scene CogVideoX model, its baselines, pipelines and weight loaders.

Public API (import from the submodules; nothing heavy is imported here):

Components (`msvg_bench.models.components`)
    load_components(model_cfg, parts=("tokenizer", "text_encoder", "vae", "transformer", "scheduler"))
        -> Components(tokenizer, text_encoder, vae, transformer, scheduler, model_id, missing_keys)
        tiny: random-init from config (seeded), pretrained: `model.model_dir` (the layout of the
        model family `model.family`: `msvg_bench.models.families`, CogVideoX-2b / -5b / 1.5-5B).
        The transformer is `HistoryCogVideoXTransformer3DModel` (history tokens; base behaviour
        when called without `history_hidden_states`). Trained weights from `model.weights`.
    What the config implies before building (`msvg_bench.models.component_specs`): model_identity,
    text_length, text_embed_dim, tiny_transformer_config.

Encoders (`msvg_bench.models.encoding`)
    encode_prompts(components, prompts) -> Tensor[B, L, D]
    encode_video_latents(components, frames_uint8_THWC) -> Tensor[C, T', h, w] (scaled latents)
    preprocess_frames(frames, num_frames, height, width), decode_latents(components, latents)

Stage 1: feature extractor (`msvg_bench.models.multiscene`, `.extractor`, `.history`)
    extractor = build_extractor(model_cfg)          # frozen teacher inside: extractor.teacher
    module = Stage1Module(extractor)                  # forward(history, current_frames, current_frame_valid) -> loss
    params = set_trainable(module, stage=1)           # "extractor.*" except "extractor.teacher.*"
    Inputs from caches: texts = [scene_text_from_cache(components, entry) for each scene] (or
    encode_scene_texts(components, prompts)); per-frame history-encoder embeddings [T, 512] per
    scene; for target scene i: sample = history_sample(texts[i], texts[:i], frames[:i], model_cfg);
    history = collate_history(samples); current_frames [B, F, 512] (+ bool mask [B, F]) of scene i.

Stage 2: history transformer + decoupler (`msvg_bench.models.multiscene`)
    comps = load_components(model_cfg)               # transformer = history transformer
    decoupler = build_decoupler(model_cfg)
    module = Stage2Module(comps.transformer, decoupler, comps.scheduler, model_cfg)
    params = set_trainable(module, stage=2, train_base_transformer=model_cfg.train_base_transformer)
        # "decoupler.*", "transformer.*history_*" (+ all "transformer.*" when training the base)
    feats, null_feats = history_features(frozen_extractor, history)   # cacheable: extractor is frozen
    loss = module({"latents" [B, C, T', h, w], "prompt_embeds" [B, L, D],
                   "negative_prompt_embeds" [1 or B, L, D], "history_features": feats,
                   "null_history_features": null_feats}, generator=None)
        # v-prediction MSE, uniform timesteps, text / history dropout (model.text_dropout / history_dropout)

Saving trained weights for `generate --model PATH` (`msvg_bench.models.weights`)
    export_weights(PATH, model_identity=comps.model_id, transformer=..., extractor=..., decoupler=...,
                   transformer_history_only=not model_cfg.train_base_transformer)
    generate / load_components / build_extractor / build_decoupler read PATH when `model.weights=PATH`.

Generation (`msvg_bench.models.pipelines`)
    generate_story(settings, prompts, out_dir, method, seed, story_id) -> Story
        methods: msvg (history guidance, 3 branches per step), plain, streaming (StreamingT2V-style).
    generate_stories(settings, [StoryRequest(id, prompts, seed), ...], out_dir, method) -> [Story]: several stories
        together, scene k of each in one batch (equal to one by one); generate_in_batches: story_batch at a time.
    StoryGenerator(settings).run_scene(...) / .run_scenes(...) / .generate(...) / .generate_many(...) for finer control.

Architecture counts without allocation: `msvg_bench.models.info.parameter_report(model_cfg)`
(`msvg-bench models info --preset cogvideox-2b`, `cogvideox-5b`, `cogvideox1.5-5b`).
"""
