"""Write a backbone's features for every item of an image dataset (the same command as ``l2h-extract``).

    python extract.py encoder=resnet50 encoder.weights=imagenet data=mnist data.path=mnist_folder out=features.npy
    python train.py model=sdh data=file data.path=features.npy data.labels_path=features_labels.npy
"""

from l2h.cli.extract import main

if __name__ == "__main__":
    main()
