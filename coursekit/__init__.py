"""Course build tooling of the numnet nbgrader course.

- ``python -m coursekit.build``     write source/numnet/numnet.ipynb from the template + numnet_ref (one source)
- ``python -m coursekit.release``   regenerate release/numnet with nbgrader generate_assignment
- ``python -m coursekit.examples``  grade the bundled example submissions as the bot does, print the grade table
- ``python -m coursekit.feedback``  feedback HTML without hidden-test code
"""

from __future__ import annotations

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENT = "numnet"
NOTEBOOK = "numnet.ipynb"
SOURCE_NOTEBOOK = os.path.join(REPO_ROOT, "source", ASSIGNMENT, NOTEBOOK)
RELEASE_DIR = os.path.join(REPO_ROOT, "release", ASSIGNMENT)

# The course's structure (tasks with their maxima and titles, a Russian name per test cell): coursekit/course.py.
from coursekit.course import TASK_TITLES, TASKS, TEST_NAMES  # noqa: E402,F401

# The student's classes each test cell checks. In grading, every other class a test uses is numnet_ref's
# known-good one (a collaborator), so a bug costs only the cells of its own class; the whole-network Keras
# comparison of part 1 is the one test of several student classes together. See docs/course.md.
_OPTIMIZERS = ('SGD', 'RMSprop', 'Adagrad', 'Adam')  # the bonus: the best of them counts
_CORE_NET = ('MaxPooling', 'FlattenLayer', 'DenseLayer', 'ReLU', 'Softmax', 'Network')
SUBJECTS = {
    'part1_forward__keras_mnist': _CORE_NET,
    'part1_forward__dense': ('DenseLayer',),
    'part1_forward__relu': ('ReLU',),
    'part1_forward__softmax': ('Softmax',),
    'part1_forward__flatten': ('FlattenLayer',),
    'part1_forward__maxpooling': ('MaxPooling',),
    'part2_grad_x__crossentropy': ('CrossEntropy',),
    'part2_grad_x__softmax': ('Softmax',),
    'part2_grad_x__relu': ('ReLU',),
    'part2_grad_x__dense': ('DenseLayer',),
    'part2_grad_x__network': ('Network',),
    'part3_training__grad_b': ('DenseLayer',),
    'part3_training__grad_w': ('DenseLayer',),
    'part3_training__grad_param': ('Network',),
    'part3_training__train_step': ('Network',),
    'part3_training__fit_mnist': ('Network',),
    'bonus_conv__forward': ('Conv2DLayer',),
    'bonus_conv__grad_x': ('Conv2DLayer',),
    'bonus_conv__grad_params': ('Conv2DLayer',),
    'bonus_conv__pooling_grad': ('MaxPooling', 'FlattenLayer'),
    'bonus_conv__training': ('Conv2DLayer',),
    'bonus_conv_tr__forward': ('Conv2DTrLayer',),
    'bonus_conv_tr__grad_x': ('Conv2DTrLayer',),
    'bonus_conv_tr__grad_params': ('Conv2DTrLayer',),
    'bonus_conv_tr__training': ('Conv2DTrLayer',),
    'bonus_optimizer__step': _OPTIMIZERS,
    'bonus_optimizer__network': _OPTIMIZERS,
}
EXPECTED_STORE = os.path.join('grading', ASSIGNMENT, 'expected.npz')  # relative to the course root


def subjects_of(grade_id: str) -> tuple[str, ...]:
    """The student's classes a test cell checks (KeyError for an unknown cell: every test must be listed)."""
    return SUBJECTS[grade_id]
