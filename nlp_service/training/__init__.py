"""What builds the NLP service's shipped artefacts from the project's own labelled data."""
