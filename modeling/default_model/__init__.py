"""The shipped default model: model.txt (LightGBM text) + model_card.json; see the card for its training data."""
