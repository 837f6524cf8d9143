"""The user's model of a scene: morphs (shape and placement), materials (behaviour), surfaces (looks),
the entities built from them, and the Scene that owns solvers and cameras."""
