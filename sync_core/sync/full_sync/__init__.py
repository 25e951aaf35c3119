"""Full synchronization: the review, its lines in dependency order, the staged record feed."""
