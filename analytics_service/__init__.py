"""The analytics service: rollups of customer events, served as summaries, series and breakdowns."""
