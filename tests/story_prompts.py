"""The four-scene story the generation and synthesis tests share: two actors, two settings, each
actor in both settings, so character and setting recurrences are both present."""

FOUR_SCENE_STORY = [
    "Actor 1 is running on the playground.",
    "Actor 2 is skiing on the snow.",
    "Actor 2 is running on the playground.",
    "Actor 1 is skiing on the snow.",
]
