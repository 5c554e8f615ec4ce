"""Course build tooling of the numnet nbgrader course.

- ``python -m coursekit.build``     write source/numnet/numnet.ipynb from the template + numnet_ref (one source)
- ``python -m coursekit.release``   regenerate release/numnet with nbgrader generate_assignment
- ``python -m coursekit.examples``  autograde the bundled example submissions and print the grade table
- ``python -m coursekit.feedback``  feedback HTML without hidden-test code
"""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENT = "numnet"
NOTEBOOK = "numnet.ipynb"
SOURCE_NOTEBOOK = os.path.join(REPO_ROOT, "source", ASSIGNMENT, NOTEBOOK)
RELEASE_DIR = os.path.join(REPO_ROOT, "release", ASSIGNMENT)

# Task maxima (also derivable from the notebook's cell metadata: see coursekit.grading.task_maxima).
TASKS = {
    "part1_forward": 5,
    "part2_grad_x": 5,
    "part3_training": 10,
    "bonus_conv": 10,
    "bonus_conv_tr": 10,
    "bonus_optimizer": 5,
}
