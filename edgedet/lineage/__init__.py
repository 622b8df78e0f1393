"""The road to Faster R-CNN, runnable: each method of the lineage (single-object classification and
localisation, sliding window + AdaBoost, selective search, R-CNN, Fast R-CNN, Faster R-CNN with RoI
Pool and RoI Align) in its own module, trained and evaluated on the same data with the same
pycocotools evaluation through the ``Detector`` contract. ``edgedet lineage`` runs them all."""
