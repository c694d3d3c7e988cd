"""The feed engine: social graph, posts with audiences, hybrid fan-out, ranked timelines and live
updates, shared by Facebook Newsfeed, Facebook Timeline and Instagram. See docs/engines/feed.md."""
