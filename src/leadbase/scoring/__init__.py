"""The lead score: rules (and a trained model) turn a lead and its
activities into 0..100, each point explained."""
