"""Train a hasher, save its checkpoint, index the database and report the evaluation (the same command as the
installed ``l2h-train``; configs in l2h/conf, also reachable as conf/).

    python train.py                                   # grh_mlp on the embedded digits data
    python train.py data=cifar10_gist data.path=Gist512CIFAR10.mat protocol=tutorial model=grh_svm bits=16
    python train.py -m model=lsh,itq,grh_svm bits=16,32,64     # one job per combination

`python train.py --help` lists every group and option."""

from l2h.cli.train import main

if __name__ == "__main__":
    main()
