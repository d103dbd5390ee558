"""Datasets: loaders for the formats hashing data comes in, preprocessing, and evaluation protocols."""
